"""The spine: what every capability is declared with and every door is built from.

- `capability`: the declaration of a capability (its reads, writes, page, checks);
- `registry`: the capabilities listed in PORTAL_CAPABILITIES, loaded once at start-up;
- `results`: Report, Section, the status vocabulary, the one JSON encoder;
- `arguments`: turning what a door received into a write's or a read's form data;
- `runs`: the state machine of a write's audit row, from requested to finished (and the
  task the worker runs for a queued one);
- `targets`: where a write runs; `channel`: how work reaches other processes;
- `sections`: the status sections a caller may read, for the dashboard, the API and the CLI.
"""
