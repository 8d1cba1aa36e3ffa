"""What runs inside every process of the portal, below every capability and door.

- `identity`: which process this is (host, instance, pid) and which code it runs;
- `heartbeat`: beats that keep the fleet's picture fresh, and each process's own thread;
- `drain`: whether this instance should leave the load balancer (read on every probe);
- `fleet`: the instances and their processes, as the heartbeats left them.
"""
