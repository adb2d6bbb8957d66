"""Use cases: one function plans each action, one path previews and executes it, for the
App's keys, its palette and the pipeline CLI alike.

Why this layer exists: the faces used to assemble the planners of :mod:`backends.ops`, the
gate and the executor each in their own way, and drifted: two rules for the replicas
``scale --restore`` puts back, a CLI breaker release planned on its own (its dry-run left out
the annotation removal that release sends), restore-sync with or without the journal's
record depending on the face, a second lister of the cluster, and the App executing without
the per-step cancel tokens the CLI gives. Here each rule exists once; a face only gathers
input (which object, which revision, the weights, the reason, the typed confirmation) and
renders what it gets back.

Shape, and why:

- :class:`~backends.usecases.workspace.Workspace`: what a session acts with (connection,
  gate, journal, settings, the App's store when there is one, the Alertmanager client). A
  frozen value, not the App or argparse's namespace, so both faces can build one.
- ``plan_<action>(ws, ...) -> Action`` in one module per family (:mod:`.argocd`,
  :mod:`.workloads`, :mod:`.rollout`, :mod:`.traffic`, :mod:`.helm`, :mod:`.alerts`): GETs only. An
  :class:`~backends.usecases.workspace.Action` carries its plan AND the gate that previews
  and sends it (Helm, Argo CD REST and Alertmanager plans need a gate on their own
  transport), so the dry-run and the execution cannot go through different doors.
- :mod:`.run`: :func:`~backends.usecases.run.preview` (the dry-run) and
  :func:`~backends.usecases.run.run` (execute, per-step cancel tokens, the action's
  emergency flag, blocked plans refused), plus :func:`~backends.usecases.run.refusal` and
  :func:`~backends.usecases.run.cancel_window` for what a face says before asking.
- :mod:`.breaker`: the breaker runs its phases itself (concurrent targets, one operation id),
  so it has its own engage/release, but previews exactly their writes.
- :mod:`.baseline`: snapshot, diff, validate, and :func:`~backends.usecases.baseline
  .list_cluster`, the one way to fill a store from a cluster without the App.

Errors: planners raise :class:`~backends.ops.plan.PlanError` (the message is for the
operator; nothing was sent) or :class:`~backends.kube.connection.KubeError`; execution never
raises for refusals or failures, the result says what happened. No Textual here (an
import-linter contract holds ``backends`` to that).
"""
