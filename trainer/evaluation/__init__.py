"""`intent-train evaluate`: a labelled test file answered by an export through the server's
runtime (`scoring`), and the report of those answers (`report`)."""
