"""The models: the forecaster of the next opens and the entry-signal classifier tournament.

One module per job. The forecaster: ``lstm_config`` (hyperparameters, the cut into training and
validation blocks), ``lstm_network`` (the ``nn.Module``), ``lstm_training`` (ensemble, early
stopping, the share of the correction kept), ``gap_level`` (the typical overnight gap),
``intervals`` (the adaptive bands), ``lstm`` (the user-facing ``GapLevelForecaster``),
``lstm_evaluation`` (its monitoring and what it serves). The classifier: ``candidates`` (the
pipelines, their grids, the audited types), ``classifier_config``, ``tournament`` (time-series
CV), ``classifier`` (the user-facing ``EntrySignalClassifier``), ``classifier_evaluation`` (its
monitoring and what it serves). Both: ``protocols`` (what a model of any kind is, and what each
role adds: typing only), ``evaluation`` (what an evaluation gives; light), ``artifact`` (the one
saved format) and ``backtest`` (the one walk-forward procedure). ``registry`` keeps the artifacts
in the database.
"""
