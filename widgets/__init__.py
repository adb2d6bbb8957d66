"""Panels that render what they are given (rows, change sets) and post messages up.

The panel contract (``KINDS``, ``TITLE``, ``refresh_from``, ``set_filter``, ``selected_key``,
``selected_kind``, :class:`~widgets.messages.PanelRowActivated`) is in :mod:`widgets.panel`;
:mod:`widgets.panels` imports every panel and builds the dashboard set. Widgets never fetch: the
App's refresh tick hands them the store and the change set.
"""
