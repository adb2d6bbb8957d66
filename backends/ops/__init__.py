"""backends/ops: everything that changes the platform.

All mutations go through :class:`backends.ops.gate.WriteGate` (read-only mode, protected
contexts, cancel window, journal before send) and are recorded in
:mod:`backends.ops.journal`. Action modules (Argo CD, workloads, traffic, Helm, the circuit
breaker) build :class:`~backends.ops.gate.WriteRequest` values and hand them to the gate; they
never hold a sender of their own. Nothing is re-exported here, so importing one action module
does not import them all.
"""
