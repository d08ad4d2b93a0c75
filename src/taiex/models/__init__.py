"""The models: the LSTM forecaster and the entry-signal classifier tournament."""
