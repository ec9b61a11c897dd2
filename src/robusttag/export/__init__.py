"""What leaves robusttag for the analyst's tools: scale factors as correctionlib files."""
