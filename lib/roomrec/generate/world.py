"""The static part of the virtual world: communities, users, rooms and their affinities.

Affinity model
--------------
Each user belongs to 1-3 interest communities with membership weights ``m_u`` that sum to 1.
A community likes a few room categories, speaks one language and has a latent factor
vector. From these, a user gets a category preference ``c_u = m_u @ C`` and a latent
factor vector ``p_u = m_u @ Z + noise``. A room gets its category, language and latent
factors ``q_r = z_home + noise`` from the community of its owner. The affinity is::

    s(u, r) = W_CATEGORY * c_u[cat_r] / max(c_u) + W_LANGUAGE * L[lang_u, lang_r]
              + W_LATENT * p_u . q_r / sqrt(d) + BIAS
    affinity(u, r) = sigmoid(s(u, r))

The score ``s`` has rank at most 12 + 6 + d (categories, languages, latent dimension), so a
matrix factorisation of rank 16..32 can recover its ordering. Rooms that a user owns get an
affinity of at least 0.9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from roomrec.generate import vocab
from roomrec.generate.sizes import GeneratorSize

MS_PER_DAY = 86_400_000
MS_PER_HOUR = 3_600_000

W_CATEGORY = 3.0
W_LANGUAGE = 2.0
W_LATENT = 1.2
BIAS = -6.0

# L[user language, room language]: full match, English rooms half-open to everybody.
SAME_LANGUAGE = 1.0
ENGLISH_ROOM_OTHER_USER = 0.4
OTHER_LANGUAGE = 0.05

OWN_ROOM_MIN_AFFINITY = 0.9

# Discovery weight of a room for a user: affinity**AFFINITY_POWER * popularity**POPULARITY_POWER.
AFFINITY_POWER = 4.0
POPULARITY_POWER = 0.35
# Zipf exponent of the base room popularity.
ZIPF_EXPONENT = 1.3
# Non-owners find private rooms this much less often (they need an invitation).
PRIVATE_ROOM_FACTOR = 0.05
PRIVATE_SHARE = 0.1

REGISTERED_IN_WINDOW_SHARE = 0.10
CHURN_SHARE = 0.06
# Lognormal sigma of the per-user session rate: most users are light, a few are heavy.
ACTIVITY_SIGMA = 1.2
MAX_SESSIONS_PER_DAY = 12.0

# Users per block when affinities are computed for all rooms, which bounds memory at
# AFFINITY_BLOCK_USERS * n_rooms float32 values.
AFFINITY_BLOCK_USERS = 1024


@dataclass
class World:
    """Communities, users and rooms, as parallel numpy arrays indexed by dense integers.

    User ``i`` is written as ``u{i:06d}`` and room ``j`` as ``r{j:05d}``. Rooms are sorted
    by creation time, so a higher room index never means an older room.
    """

    size: GeneratorSize
    start_ms: int
    community_language: np.ndarray
    community_categories: np.ndarray
    community_factors: np.ndarray
    user_language: np.ndarray
    user_tz_offset_s: np.ndarray
    user_activity: np.ndarray
    user_chattiness: np.ndarray
    user_registered_ms: np.ndarray
    user_last_day: np.ndarray
    user_is_bot: np.ndarray
    user_membership: np.ndarray
    user_factor_noise: np.ndarray
    room_owner: np.ndarray
    room_category: np.ndarray
    room_language: np.ndarray
    room_community: np.ndarray
    room_created_ms: np.ndarray
    room_is_public: np.ndarray
    room_popularity: np.ndarray
    room_factors: np.ndarray
    room_tags: list[tuple[str, ...]]
    room_name: list[str]
    room_description: list[str]
    owned_offsets: np.ndarray
    owned_rooms: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_language)

    @property
    def n_rooms(self) -> int:
        return len(self.room_owner)

    def user_ids(self) -> list[str]:
        return [f"u{i:06d}" for i in range(self.n_users)]

    def room_ids(self) -> list[str]:
        return [f"r{j:05d}" for j in range(self.n_rooms)]

    def user_factors(self, users: np.ndarray) -> np.ndarray:
        return self.user_membership[users] @ self.community_factors + self.user_factor_noise[users]

    def user_category_preference(self, users: np.ndarray) -> np.ndarray:
        preference = self.user_membership[users] @ self.community_categories
        return preference / preference.max(axis=1, keepdims=True)


def _language_matrix() -> np.ndarray:
    n = len(vocab.LANGUAGES)
    matrix = np.full((n, n), OTHER_LANGUAGE)
    english = vocab.LANGUAGES.index("en")
    matrix[:, english] = ENGLISH_ROOM_OTHER_USER
    np.fill_diagonal(matrix, SAME_LANGUAGE)
    return matrix


LANGUAGE_MATCH = _language_matrix()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Return 1 / (1 + exp(-x)), computed in place in ``x``."""
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1.0
    np.reciprocal(x, out=x)
    return x


def _owned_pairs(world: World, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (row in ``users``, room) for every room owned by one of ``users``."""
    lo = world.owned_offsets[users]
    counts = world.owned_offsets[users + 1] - lo
    rows = np.repeat(np.arange(len(users)), counts)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    return rows, world.owned_rooms[starts + np.arange(len(rows))]


def affinity_block(world: World, users: np.ndarray) -> np.ndarray:
    """Return the affinity of each user in ``users`` for every room, shape (users, rooms)."""
    # Category and language terms through one lookup per room: table[user, category, language].
    n_languages = len(vocab.LANGUAGES)
    preference = world.user_category_preference(users)
    language = LANGUAGE_MATCH[world.user_language[users]]
    table = W_CATEGORY * preference[:, :, None] + W_LANGUAGE * language[:, None, :]
    table = table.reshape(len(users), -1).astype(np.float32)
    room_code = world.room_category.astype(np.int64) * n_languages + world.room_language
    scale = W_LATENT / math.sqrt(world.size.latent_dim)
    user_factors = (scale * world.user_factors(users)).astype(np.float32)
    score = user_factors @ world.room_factors.T.astype(np.float32)
    score += np.take(table, room_code, axis=1)
    score += BIAS
    affinity = _sigmoid(score)
    rows, rooms = _owned_pairs(world, users)
    own = affinity[rows, rooms]
    affinity[rows, rooms] = np.maximum(own, OWN_ROOM_MIN_AFFINITY + 0.1 * own)
    return affinity


def affinity_pairs(world: World, users: np.ndarray, rooms: np.ndarray) -> np.ndarray:
    """Return the affinity of ``users[i]`` for ``rooms[i]`` for each i."""
    preference = world.user_category_preference(users)
    score = W_CATEGORY * preference[np.arange(len(users)), world.room_category[rooms]]
    score += W_LANGUAGE * LANGUAGE_MATCH[world.user_language[users], world.room_language[rooms]]
    scale = W_LATENT / math.sqrt(world.size.latent_dim)
    score += scale * np.einsum("ij,ij->i", world.user_factors(users), world.room_factors[rooms])
    affinity = _sigmoid((score + BIAS).astype(np.float32))
    own = world.room_owner[rooms] == users
    affinity[own] = np.maximum(affinity[own], OWN_ROOM_MIN_AFFINITY + 0.1 * affinity[own])
    return affinity


def discovery_weights(world: World, users: np.ndarray, affinity: np.ndarray) -> np.ndarray:
    """Return the static discovery weight of every room for each user, own rooms zeroed."""
    room_weight = world.room_popularity**POPULARITY_POWER
    room_weight = np.where(world.room_is_public, room_weight, room_weight * PRIVATE_ROOM_FACTOR)
    weight = affinity**AFFINITY_POWER
    weight *= room_weight.astype(np.float32)[None, :]
    rows, rooms = _owned_pairs(world, users)
    weight[rows, rooms] = 0.0
    return weight


def build_world(size: GeneratorSize, rng: np.random.Generator, start_ms: int) -> World:
    """Draw communities, users and rooms for one data set."""
    n_categories = len(vocab.CATEGORIES)
    n_languages = len(vocab.LANGUAGES)
    m = size.n_communities
    d = size.latent_dim
    language_p = np.asarray(vocab.LANGUAGE_WEIGHTS) / sum(vocab.LANGUAGE_WEIGHTS)

    # Communities: a language, 1-3 liked categories, a latent centre, a size.
    community_language = rng.choice(n_languages, size=m, p=language_p).astype(np.int8)
    community_categories = np.full((m, n_categories), 0.04)
    for c in range(m):
        n_liked = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
        liked = rng.choice(n_categories, size=n_liked, replace=False)
        community_categories[c, liked] += rng.dirichlet(np.full(n_liked, 2.0))
    community_factors = rng.normal(size=(m, d))
    community_size = rng.pareto(1.5, size=m) + 1.0
    community_p = community_size / community_size.sum()

    users = _draw_users(size, rng, start_ms, community_language, community_p, language_p)
    rooms = _draw_rooms(
        size, rng, start_ms, users, community_factors, community_categories, language_p
    )
    world = World(
        size=size,
        start_ms=start_ms,
        community_language=community_language,
        community_categories=community_categories,
        community_factors=community_factors,
        **users,
        **rooms,
    )
    return world


def _draw_users(
    size: GeneratorSize,
    rng: np.random.Generator,
    start_ms: int,
    community_language: np.ndarray,
    community_p: np.ndarray,
    language_p: np.ndarray,
) -> dict[str, np.ndarray]:
    n = size.n_users
    m = size.n_communities
    n_languages = len(vocab.LANGUAGES)

    membership = np.zeros((n, m), dtype=np.float64)
    n_member = rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15])
    for k in (1, 2, 3):
        rows = np.flatnonzero(n_member == k)
        if len(rows) == 0:
            continue
        # Gumbel top-k draws k distinct communities per user with probability ~ size.
        keys = np.log(community_p)[None, :] + rng.gumbel(size=(len(rows), m))
        chosen = np.argsort(-keys, axis=1)[:, :k]
        weights = np.sort(rng.dirichlet(np.full(k, 2.0), size=len(rows)), axis=1)[:, ::-1]
        membership[rows[:, None], chosen] = weights
    primary = membership.argmax(axis=1)

    own_language = rng.random(n) < 0.85
    language = np.where(
        own_language,
        community_language[primary],
        rng.choice(n_languages, size=n, p=language_p),
    ).astype(np.int8)

    tz_offset_s = np.zeros(n, dtype=np.int32)
    for lang, (offsets, shares) in enumerate(vocab.TIMEZONES):
        rows = np.flatnonzero(language == lang)
        picked = rng.choice(len(offsets), size=len(rows), p=np.asarray(shares))
        tz_offset_s[rows] = np.asarray(offsets)[picked] * 3600

    activity = rng.lognormal(0.0, ACTIVITY_SIGMA, size=n)
    activity *= size.mean_sessions_per_user_day / activity.mean()
    activity = np.minimum(activity, MAX_SESSIONS_PER_DAY)
    chattiness = rng.gamma(0.8, 1.0, size=n)

    window_ms = size.n_days * MS_PER_DAY
    in_window = rng.random(n) < REGISTERED_IN_WINDOW_SHARE
    registered = np.where(
        in_window,
        start_ms + rng.integers(0, window_ms - MS_PER_DAY, size=n),
        start_ms - rng.integers(MS_PER_DAY, 730 * MS_PER_DAY, size=n),
    ).astype(np.int64)
    last_day = np.full(n, size.n_days, dtype=np.int32)
    churned = rng.random(n) < CHURN_SHARE
    last_day[churned] = rng.integers(0, size.n_days, size=int(churned.sum()))

    n_bots = max(2, round(size.bot_share * n))
    is_bot = np.zeros(n, dtype=bool)
    is_bot[rng.choice(n, size=n_bots, replace=False)] = True
    # Bots run for the whole window.
    registered[is_bot] = np.minimum(registered[is_bot], start_ms - MS_PER_DAY)
    last_day[is_bot] = size.n_days

    factor_noise = 0.5 * rng.normal(size=(n, size.latent_dim))
    return {
        "user_language": language,
        "user_tz_offset_s": tz_offset_s,
        "user_activity": activity,
        "user_chattiness": chattiness,
        "user_registered_ms": registered,
        "user_last_day": last_day,
        "user_is_bot": is_bot,
        "user_membership": membership,
        "user_factor_noise": factor_noise,
    }


def _draw_rooms(
    size: GeneratorSize,
    rng: np.random.Generator,
    start_ms: int,
    users: dict[str, np.ndarray],
    community_factors: np.ndarray,
    community_categories: np.ndarray,
    language_p: np.ndarray,
) -> dict[str, object]:
    n_languages = len(vocab.LANGUAGES)
    registered = users["user_registered_ms"]
    owner_weight = np.where(users["user_is_bot"], 0.0, users["user_activity"])

    # Rooms before the window: owners registered before the start.
    n_initial = size.n_rooms_initial
    early = owner_weight * (registered < start_ms - MS_PER_DAY)
    owners_initial = rng.choice(len(early), size=n_initial, p=early / early.sum())
    oldest = np.maximum(registered[owners_initial], start_ms - 540 * MS_PER_DAY)
    created_initial = oldest + (rng.random(n_initial) * (start_ms - MS_PER_HOUR - oldest))

    # Rooms created during the window, every day, by users registered before that day.
    owners_new: list[np.ndarray] = []
    created_new: list[np.ndarray] = []
    for day in range(size.n_days):
        day_start = start_ms + day * MS_PER_DAY
        count = max(1, int(rng.poisson(size.new_rooms_per_day)))
        weight = owner_weight * (registered < day_start)
        owners_new.append(rng.choice(len(weight), size=count, p=weight / weight.sum()))
        created_new.append(day_start + rng.integers(0, MS_PER_DAY, size=count))
    owner = np.concatenate([owners_initial, *owners_new]).astype(np.int32)
    created = np.concatenate([created_initial.astype(np.int64), *created_new]).astype(np.int64)
    order = np.argsort(created, kind="stable")
    owner = owner[order]
    created = created[order]
    n_rooms = len(owner)

    # Each room belongs to one community of its owner and takes its category and language.
    membership = users["user_membership"][owner]
    keys = np.log(np.maximum(membership, 1e-12)) + rng.gumbel(size=membership.shape)
    community = keys.argmax(axis=1).astype(np.int32)
    category_p = community_categories[community]
    category_keys = np.log(category_p) + rng.gumbel(size=category_p.shape)
    category = category_keys.argmax(axis=1).astype(np.int8)
    language = np.where(
        rng.random(n_rooms) < 0.9,
        users["user_language"][owner],
        rng.choice(n_languages, size=n_rooms, p=language_p),
    ).astype(np.int8)
    factors = community_factors[community] + 0.6 * rng.normal(size=(n_rooms, size.latent_dim))
    is_public = rng.random(n_rooms) >= PRIVATE_SHARE
    rank = rng.permutation(n_rooms) + 1
    popularity = rank.astype(np.float64) ** -ZIPF_EXPONENT

    tags, names, descriptions = _room_texts(rng, category, language, factors)

    owned_order = np.lexsort((created, owner))
    owned_offsets = np.zeros(len(registered) + 1, dtype=np.int64)
    np.add.at(owned_offsets, owner.astype(np.int64) + 1, 1)
    owned_offsets = np.cumsum(owned_offsets)
    return {
        "room_owner": owner,
        "room_category": category,
        "room_language": language,
        "room_community": community,
        "room_created_ms": created,
        "room_is_public": is_public,
        "room_popularity": popularity,
        "room_factors": factors,
        "room_tags": tags,
        "room_name": names,
        "room_description": descriptions,
        "owned_offsets": owned_offsets,
        "owned_rooms": owned_order.astype(np.int32),
    }


def _room_texts(
    rng: np.random.Generator,
    category: np.ndarray,
    language: np.ndarray,
    factors: np.ndarray,
) -> tuple[list[tuple[str, ...]], list[str], list[str]]:
    """Draw tags, a name and a description per room.

    Tags are drawn with probability increasing in the match between the room's latent
    factors and a latent direction of each tag, so the text carries part of the latent
    signal as well as the category.
    """
    n_tags = len(vocab.CATEGORY_TAGS[0])
    tag_directions = rng.normal(size=(len(vocab.CATEGORIES), n_tags, factors.shape[1]))
    tag_directions /= np.linalg.norm(tag_directions, axis=2, keepdims=True)
    norms = np.linalg.norm(factors, axis=1, keepdims=True)
    cosine = np.einsum("rtd,rd->rt", tag_directions[category], factors / norms)
    keys = 2.0 * cosine + rng.gumbel(size=cosine.shape)
    tag_order = np.argsort(-keys, axis=1)
    n_category_tags = rng.integers(2, 5, size=len(category))
    add_shared = rng.random(len(category)) < 0.4
    shared_pick = rng.integers(0, len(vocab.SHARED_TAGS), size=len(category))
    adjective = rng.integers(0, len(vocab.ADJECTIVES), size=len(category))
    noun = rng.integers(0, len(vocab.CATEGORY_NOUNS[0]), size=len(category))
    named_after_tag = rng.random(len(category)) < 0.5
    template = rng.integers(0, 3, size=len(category))

    tags: list[tuple[str, ...]] = []
    names: list[str] = []
    descriptions: list[str] = []
    for r in range(len(category)):
        cat = int(category[r])
        cat_name = vocab.CATEGORIES[cat]
        room_tags = [vocab.CATEGORY_TAGS[cat][t] for t in tag_order[r, : n_category_tags[r]]]
        if add_shared[r]:
            room_tags.append(vocab.SHARED_TAGS[shared_pick[r]])
        adj = vocab.ADJECTIVES[adjective[r]]
        parts = [adj]
        if named_after_tag[r]:
            parts.append(room_tags[0].capitalize())
        parts.append(vocab.CATEGORY_NOUNS[cat][noun[r]])
        greeting = vocab.GREETINGS[language[r]]
        first, second = room_tags[0], room_tags[1]
        if template[r] == 0:
            sentence = f"a {adj.lower()} {cat_name} room for {', '.join(room_tags)} fans."
        elif template[r] == 1:
            sentence = f"come talk {first} and {second} with other {cat_name} lovers."
        else:
            sentence = f"daily {cat_name} chat about {' and '.join(room_tags)}."
        tags.append(tuple(room_tags))
        names.append(" ".join(parts))
        descriptions.append(
            f"{greeting}! This is {sentence}"
            if template[r] == 0
            else f"{greeting}! {sentence[0].upper()}{sentence[1:]}"
        )
    return tags, names, descriptions
