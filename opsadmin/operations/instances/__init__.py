"""The instances capability (capability.py): which processes serve where, and draining them out of the load balancer."""
