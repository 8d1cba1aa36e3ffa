"""A capability for the tests only: a write sent to one given process, that says which process it ran in."""
