"""Pre-update baselines, drift against a baseline, and post-update validation (issue 7).

The update strategy asks for a health baseline before each update and a validation after it.
This package makes both pure functions of the store, so the control room's keys and the
headless commands share one implementation:

- :mod:`.model`: the versioned JSON document (:class:`~.model.Baseline`);
- :mod:`.capture`: ``capture(store, meta, now) -> Baseline`` (pure, fast, no I/O);
- :mod:`.io`: atomic write (0600, temp file + fsync + rename, never over an existing file)
  and a defensive load (clear errors, every string sanitized, read-only);
- :mod:`.diff` (with :mod:`.diff_signals` and :mod:`.items`): ``diff(baseline, current) ->
  Diff``, grouped by kind, worst first;
- :mod:`.validate`: the update strategy's checks, the ``[validate]`` rules and the "no
  regression" rules; :mod:`.report` renders diffs and validations as text, JSON, JUnit XML;
- :mod:`.collect`: fill a fresh store once (one list of every kind, one alert poll, one
  probe round) for the headless commands; the control room already has a live store;
- :mod:`.runbook`: the update checklist embedded in every baseline (the change record).

How the control room uses it (keys ``b``, ``d``, ``v``), all on its live ``Store``:

- ``b``: ``baseline = with_checklist(capture(store, make_meta(context, cluster, change_id),
  time.time()), runbook, store)`` on the event loop (30,000 pods take ~30 ms;
  ``with_checklist`` embeds the runbook, "Baseline taken" ticked from the document and the
  other automatic items evaluated with :func:`~.runbook.facts_from_store`),
  then ``path = await asyncio.to_thread(write_baseline, baseline)`` (blocking: fsync).
  ``BaselineError`` carries a one-line message for ``notify``.
- ``d``: the baseline to compare with is the one ``b`` took in this session, else
  ``latest_snapshot(context)`` (a path, names only) read with
  ``await asyncio.to_thread(load_baseline, path)``; then ``result = diff(baseline,
  capture(store, meta, time.time()))``. ``result.groups()`` gives ``(kind, items)`` in screen
  order; each :class:`~.items.DiffItem` has ``kind, key, what, before, after, severity
  ("worse"|"better"|"changed"), rank``; ``result.notes`` say what could not be compared.
- ``v``: ``validate(current, settings.validate, baseline, against=result)`` gives a
  :class:`~.validate.Validation` whose ``checks`` each have ``id, description, status
  ("pass"|"fail"|"skip"), evidence``; ``passed`` is the verdict.

Every string in these documents is already sanitized (at decode time for the live store, on
load for files); render them as plain text, never as markup.
"""
