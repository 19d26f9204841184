"""The workloads in raw Trio: nurseries, cancel scopes, memory channels, Lock, CapacityLimiter."""
