"""The store: where a sweep's files are, what their statuses are called, and reading them safely.

layout.py owns every path under results/ and runs/; status.py the status names and exit codes;
results.py reads a result file with its identity check (a file written for another version of
the cell is never taken for this one's, nor overwritten); claims.py lets runners share a folder.
Other wings build no result path and spell no status themselves: add them here.
"""
