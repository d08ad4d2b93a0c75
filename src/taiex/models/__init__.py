"""The models: the forecaster of the next opens and the entry-signal classifier tournament.

One module per job. The forecaster: ``lstm_config`` (hyperparameters, the cut into training and
validation blocks), ``lstm_network`` (the ``nn.Module``), ``lstm_training`` (ensemble, early
stopping, the share of the correction kept), ``gap_level`` (the typical overnight gap),
``intervals`` (the adaptive bands), ``lstm`` (the user-facing ``GapLevelForecaster``),
``lstm_evaluation`` (its monitoring and what it serves). The classifier: ``candidates`` (the
pipelines, their grids, the audited types), ``classifier_config``, ``tournament`` (time-series
CV), ``classifier`` (the user-facing ``EntrySignalClassifier``), ``classifier_evaluation`` (its
monitoring and what it serves). Both: ``artifact`` (the one saved format) and ``backtest`` (the
one walk-forward procedure). ``registry`` keeps the artifacts in the database.

The models play the roles of :mod:`taiex.kinds.protocols` and give the evaluations of
:mod:`taiex.kinds.evaluation` (the light contract, which the kind specs reach them through); they
never import a kind's spec.
"""
