"""The demo source: a generator with the defects real exports bring, and its XLSX writer."""
