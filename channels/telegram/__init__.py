"""Telegram: webhook parsing and the Bot API through python-telegram-bot."""

import os

# python-telegram-bot 22 is moving time periods (RetryAfter.retry_after, …) from int to
# timedelta and warns on every flood-control error until a program opts in; this is the
# documented opt-in, set before the library reads it.
os.environ.setdefault("PTB_TIMEDELTA", "true")
