"""The My Number (個人番号): registering it, the scoped lookup by blind index, showing it."""
