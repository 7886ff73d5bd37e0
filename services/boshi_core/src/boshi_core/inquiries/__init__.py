"""The inquiry log (評価書 IV-2): every inquiry about the file's handling, receipt to answer."""
