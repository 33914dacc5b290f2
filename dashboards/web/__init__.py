"""The built-in web dashboard, served by ``vigil api`` under ``/dashboard/``: cameras with their
last annotated frame, the live alerts feed (server-sent events), charts from the ClickHouse
rollups and the persons-of-interest list. Same server and keys as the upload API; never open."""
