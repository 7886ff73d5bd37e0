"""Home visits: newborn (新生児訪問), premature infant (未熟児訪問),
infant household (こんにちは赤ちゃん事業)."""
