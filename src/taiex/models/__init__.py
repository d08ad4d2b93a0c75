"""The models: the LSTM forecaster and the entry-signal classifier tournament.

One module per job. The LSTM: ``lstm_config`` (hyperparameters, the cut into training and
validation blocks), ``lstm_network`` (the ``nn.Module``), ``lstm_training`` (ensemble, early
stopping, the share of the correction kept), ``gap_level`` (the typical overnight gap),
``intervals`` (the adaptive bands), ``lstm`` (the user-facing ``LSTMForecaster``). The classifier:
``candidates`` (the pipelines, their grids, the audited types), ``classifier_config``,
``tournament`` (time-series CV), ``classifier`` (the user-facing ``EntrySignalClassifier``).
Both: ``artifact`` (the one saved format) and ``backtest`` (the one walk-forward procedure).
``registry`` keeps the artifacts in the database.
"""
