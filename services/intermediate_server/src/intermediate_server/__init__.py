"""中間サーバー: the municipal gateway to the My Number network, shared by many municipalities."""
