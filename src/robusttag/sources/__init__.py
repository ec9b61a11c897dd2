"""Where jets come from: the real JSON-lines file (``uci``), ROOT ntuples
(``root``), the embedded synthetic generator (``synthetic``), Pythia 8
events and their truth jets (``pythia``) with the parametric tracker (``tracker``), and the
downloader (``download``).
"""
