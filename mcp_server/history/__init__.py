"""The history pipeline: Claude Code hooks that trim what tools print, distill the session
into facts before compaction, and restore a budgeted block after it.

Hook processes are short-lived and must stay light: the modules here import only the
standard library at the top (tiktoken where a count is needed, the LanceDB-backed fact
store only when writing facts), so this package file imports nothing.
"""
