"""Room choice of users: candidate rooms, visit history, interest drift and sampling.

Every user keeps a fixed set of candidate rooms (their top rooms by discovery weight, see
:func:`roomrec.generate.world.discovery_weights`) and a decayed visit count per candidate.
A visit goes to one of three sources:

* an own room, often, because owners come back to the rooms they run;
* a revisit of a candidate room already visited, weighted by visit count x affinity;
* a discovery: a candidate room sampled by discovery weight x room age factor, with rooms
  already visited down-weighted. A small share of discoveries ignore the user and pick a
  room by global popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from roomrec.generate.world import (
    AFFINITY_BLOCK_USERS,
    MS_PER_HOUR,
    World,
    affinity_block,
    discovery_weights,
)

# Visit counts decay by this factor every day, so old favourites fade (preference drift).
HISTORY_DECAY = 0.96
# Probability of a revisit is H / (H + REVISIT_HALF) where H is the decayed visit total.
REVISIT_HALF = 3.0
# Discovery weight multiplier of a room the user has already visited.
VISITED_FACTOR = 0.15
VISITED_THRESHOLD = 0.05
# Share of discoveries that follow global popularity instead of the user's candidates.
GLOBAL_PICK_SHARE = 0.07
# A new room ramps up over about RAMP_DAYS and gets a novelty boost for NOVELTY_DAYS.
RAMP_DAYS = 1.0
NOVELTY_BOOST = 1.5
NOVELTY_DAYS = 5.0
# Share of users per day who join one more community (interest drift).
DRIFT_RATE_PER_DAY = 0.004
# Visits before the window, per unit of daily session rate, used to warm up the history.
PRIOR_VISITS_PER_RATE = 25.0
MAX_PRIOR_VISITS = 80
# Picks per chunk when sampling the warm-up history, to bound memory.
SAMPLE_CHUNK = 50_000


@dataclass
class Candidates:
    """Per-user candidate rooms with their static weight, affinity and visit counts.

    Each array has shape (users, K); the rooms of each row are sorted by room index.
    """

    rooms: np.ndarray
    weight: np.ndarray
    affinity: np.ndarray
    visits: np.ndarray


def _age_factor_of_days(age_days: np.ndarray) -> np.ndarray:
    return (1.0 - np.exp(-age_days / RAMP_DAYS)) * (
        1.0 + NOVELTY_BOOST * np.exp(-age_days / NOVELTY_DAYS)
    )


# The age factor by whole hours of age: entry 0 is for rooms not yet created, entry h + 1
# for an age in [h, h + 1) hours. Ages beyond the table use its last entry, which is 1 to
# within 1e-4.
AGE_FACTOR_BY_HOUR = np.concatenate(
    [[0.0], _age_factor_of_days((np.arange(24 * 60) + 0.5) / 24.0)]
).astype(np.float32)


def room_age_factor(created_ms: np.ndarray, at_ms: np.ndarray) -> np.ndarray:
    """Return the popularity factor of rooms of a given creation time at a given time.

    The factor is 0 before creation. It peaks one to two days after creation (at about
    1.75 with the default constants) and then decays towards 1 with time constant
    NOVELTY_DAYS. It is looked up per whole hour of age. Arguments broadcast.
    """
    hours = np.floor_divide(at_ms - created_ms, MS_PER_HOUR) + 1
    np.clip(hours, 0, len(AGE_FACTOR_BY_HOUR) - 1, out=hours)
    return AGE_FACTOR_BY_HOUR[hours]


def top_candidates(world: World, users: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return candidate rooms, weights and affinities of ``users``, shape (users, K)."""
    k = min(world.size.candidate_rooms, world.n_rooms)
    rooms_out = np.zeros((len(users), k), dtype=np.int32)
    weight_out = np.zeros((len(users), k), dtype=np.float32)
    affinity_out = np.zeros((len(users), k), dtype=np.float32)
    for lo in range(0, len(users), AFFINITY_BLOCK_USERS):
        block = users[lo : lo + AFFINITY_BLOCK_USERS]
        affinity = affinity_block(world, block)
        weight = discovery_weights(world, block, affinity)
        if k < world.n_rooms:
            top = np.argpartition(-weight, k - 1, axis=1)[:, :k]
            top.sort(axis=1)
        else:
            top = np.broadcast_to(np.arange(k), (len(block), k))
        rows = np.arange(len(block))[:, None]
        rooms_out[lo : lo + len(block)] = top
        weight_out[lo : lo + len(block)] = weight[rows, top]
        affinity_out[lo : lo + len(block)] = affinity[rows, top]
    return rooms_out, weight_out, affinity_out


def build_candidates(world: World) -> Candidates:
    users = np.arange(world.n_users)
    rooms, weight, affinity = top_candidates(world, users)
    return Candidates(rooms, weight, affinity, np.zeros(weight.shape, dtype=np.float32))


def sample_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """Sample one column per row with probability proportional to ``weights``.

    Returns -1 for rows whose weights are all zero.
    """
    if len(weights) == 0:
        return np.zeros(0, dtype=np.int64)
    cumulative = np.cumsum(weights, axis=1, dtype=np.float64)
    total = cumulative[:, -1]
    target = rng.random(len(weights)) * total
    slot = (cumulative <= target[:, None]).sum(axis=1)
    slot = np.minimum(slot, weights.shape[1] - 1)
    return np.where(total > 0, slot, -1)


def sample_discovery(
    rng: np.random.Generator,
    world: World,
    candidates: Candidates,
    users: np.ndarray,
    at_ms: np.ndarray,
    penalise_visited: bool = True,
) -> np.ndarray:
    """Return a candidate slot per user for a discovery at ``at_ms``, or -1 if none."""
    rooms = candidates.rooms[users]
    weight = candidates.weight[users] * room_age_factor(
        world.room_created_ms[rooms], at_ms[:, None]
    )
    if penalise_visited:
        visited = candidates.visits[users] > VISITED_THRESHOLD
        weight = np.where(visited, weight * VISITED_FACTOR, weight)
    return sample_rows(rng, weight)


def sample_revisit(
    rng: np.random.Generator,
    world: World,
    candidates: Candidates,
    users: np.ndarray,
    at_ms: np.ndarray,
) -> np.ndarray:
    """Return a candidate slot per user for a revisit at ``at_ms``, or -1 if none."""
    rooms = candidates.rooms[users]
    available = world.room_created_ms[rooms] < at_ms[:, None]
    weight = candidates.visits[users] * candidates.affinity[users] * available
    return sample_rows(rng, weight)


def global_room_cdf(world: World, at_ms: int) -> np.ndarray:
    """Return the cumulative distribution of global-popularity picks at ``at_ms``."""
    weight = world.room_popularity * world.room_is_public
    weight = weight * room_age_factor(world.room_created_ms, at_ms)
    cdf = np.cumsum(weight)
    return cdf / cdf[-1]


def warm_up_history(rng: np.random.Generator, world: World, candidates: Candidates) -> None:
    """Fill the visit counts with visits from the weeks before the window."""
    users = np.flatnonzero(~world.user_is_bot & (world.user_registered_ms < world.start_ms))
    n_prior = np.minimum(
        rng.poisson(world.user_activity[users] * PRIOR_VISITS_PER_RATE), MAX_PRIOR_VISITS
    )
    pick_users = np.repeat(users, n_prior)
    # Older visits count less, like the daily decay inside the window would weigh them.
    pick_weight = HISTORY_DECAY ** rng.integers(0, 30, size=len(pick_users))
    for lo in range(0, len(pick_users), SAMPLE_CHUNK):
        chunk = pick_users[lo : lo + SAMPLE_CHUNK]
        at = np.full(len(chunk), world.start_ms, dtype=np.int64)
        slot = sample_discovery(rng, world, candidates, chunk, at, penalise_visited=False)
        ok = slot >= 0
        np.add.at(
            candidates.visits,
            (chunk[ok], slot[ok]),
            pick_weight[lo : lo + SAMPLE_CHUNK][ok].astype(np.float32),
        )


def apply_drift(rng: np.random.Generator, world: World, candidates: Candidates) -> int:
    """Let a few users join one more community and rebuild their candidates.

    Visit counts of rooms that stay among the candidates are kept. Returns the number of
    users that drifted.
    """
    n_communities = world.size.n_communities
    drifting = np.flatnonzero((rng.random(world.n_users) < DRIFT_RATE_PER_DAY) & ~world.user_is_bot)
    if len(drifting) == 0:
        return 0
    new_weight = rng.uniform(0.3, 0.6, size=len(drifting))
    keys = rng.random((len(drifting), n_communities))
    for i, user in enumerate(drifting):
        membership = world.user_membership[user]
        options = np.where(membership > 0, -1.0, keys[i])
        joined = int(options.argmax())
        if options[joined] < 0:
            continue
        membership *= 1.0 - new_weight[i]
        membership[joined] = new_weight[i]
    rooms, weight, affinity = top_candidates(world, drifting)
    for i, user in enumerate(drifting):
        old_rooms = candidates.rooms[user]
        old_visits = candidates.visits[user]
        kept_visits = np.zeros(rooms.shape[1], dtype=np.float32)
        position = np.searchsorted(old_rooms, rooms[i])
        position = np.minimum(position, len(old_rooms) - 1)
        match = old_rooms[position] == rooms[i]
        kept_visits[match] = old_visits[position[match]]
        candidates.rooms[user] = rooms[i]
        candidates.weight[user] = weight[i]
        candidates.affinity[user] = affinity[i]
        candidates.visits[user] = kept_visits
    return len(drifting)
