"""The registry service: the platform database's only owner."""
