"""Retention and disposal (評価書 III-7): how long each record type is kept (versioned data,
the values for the city to confirm against its document rules), the records due for disposal,
and staff disposal (職権削除) that deletes the data and keeps the access log and a disposal
record."""
