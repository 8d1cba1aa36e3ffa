"""The health capability (capability.py): the readiness verdict and every check, as staff see them."""
