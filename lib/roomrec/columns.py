"""Column names used across roomrec, defined once.

Raw string ids (``user_id``, ``room_id``) and the dense integer indexes that ALS needs
(``user_idx``, ``room_idx``) have different names on purpose: ALS silently truncates
anything that is not an int, so a mix-up must fail loudly as a missing column.
"""

# Raw events
EVENT_ID = "event_id"
TS = "ts"
USER_ID = "user_id"
EVENT_TYPE = "event_type"
ROOM_ID = "room_id"
SCREEN = "screen"

# Rooms and users tables
OWNER_ID = "owner_id"
NAME = "name"
DESCRIPTION = "description"
TAGS = "tags"
CATEGORY = "category"
LANGUAGE = "language"
CREATED_AT = "created_at"
IS_PUBLIC = "is_public"
REGISTERED_AT = "registered_at"

# Visits: one row per stay of a user in a room
START_TS = "start_ts"
END_TS = "end_ts"
DWELL_S = "dwell_s"
IS_IMPUTED = "is_imputed"

# Interactions: one row per (user, room)
VISIT_COUNT = "visit_count"
DWELL_TOTAL_S = "dwell_total_s"
FIRST_VISIT_TS = "first_visit_ts"
LAST_VISIT_TS = "last_visit_ts"
IS_OWN_ROOM = "is_own_room"
CONFIDENCE = "confidence"

# Dense integer indexes for ALS
USER_IDX = "user_idx"
ROOM_IDX = "room_idx"

# Recommendation lists: one row per (user, recommended room)
SCORE = "score"
POSITION = "position"  # 1-based rank in the user's list
SOURCE = "source"  # which model produced the row, for example "als" or "popularity"

# Splits
SPLIT = "split"  # "train", "validation" or "test" in a random split written to Parquet

# Room popularity in training, used by the popularity baselines and list metrics
N_USERS = "n_users"  # distinct training users of a room
POPULARITY_RANK = "popularity_rank"  # 1 = most popular, ties broken by room_idx

# Per-user ranking metrics at K
N_RELEVANT = "n_relevant"  # distinct relevant rooms of the user
N_HITS = "n_hits"  # relevant rooms among the user's top K
PRECISION = "precision"
RECALL = "recall"
NDCG = "ndcg"
AP = "ap"  # average precision at K; its mean over users is MAP@K
HIT = "hit"  # 1.0 when the top K contains a relevant room
RR = "rr"  # reciprocal rank of the first relevant room in the top K

# Planted ground truth written by the generator
AFFINITY = "affinity"

EVENT_TYPES = ("room_enter", "room_leave", "screen_view", "click", "chat_message")
ROOM_EVENT_TYPES = ("room_enter", "room_leave", "chat_message")

# Ingestion accounting: rejected records and flagged bot users
RAW_RECORD = "raw"  # the input line, or the record as JSON for Parquet input
REASON = "reason"  # stable reason code, documented in docs/input-schemas.md
SOURCE_FILE = "source_file"
PEAK_EVENTS_PER_DAY = "peak_events_per_day"
PEAK_ROOMS_PER_DAY = "peak_rooms_per_day"
TOTAL_EVENTS = "total_events"
