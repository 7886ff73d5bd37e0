"""宛名管理システム (address registry): the person number, the four basic facts, households,
delivery addresses and the encrypted My Number, with history and change events."""
