"""The helpers behind the suite's scripts at the repository root: each module holds one stage of a run.

See the README's Layout section for the order data flows through them.
"""
