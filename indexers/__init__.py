"""The write side: turning a repository into ctxfold's index (scan → parse → graph → store)."""
