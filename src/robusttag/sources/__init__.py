"""Where jets come from: the real JSON-lines file (``uci``), ROOT ntuples
(``root``), the embedded synthetic generator (``synthetic``) and the
downloader (``download``).
"""
