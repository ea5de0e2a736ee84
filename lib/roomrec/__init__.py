"""roomrec: chat-room recommendations from behavioural logs with Spark ML ALS."""

__version__ = "0.1.0"
