"""Named sizes of the generated data set and the parameters behind each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratorSize:
    """Parameters of one generated data set.

    Attributes
    ----------
    n_users : int
        Users in the world, bots included. About 10% register during the window.
    n_rooms_initial : int
        Rooms that exist before the first day of the window.
    new_rooms_per_day : int
        Mean number of rooms created on each day of the window (Poisson, at least one).
    n_days : int
        Length of the window in days; one events partition is written per day.
    n_communities : int
        Interest communities. Each user belongs to 1-3 of them.
    mean_sessions_per_user_day : float
        Mean number of app sessions per human user per active day, before the weekday
        factor. Individual rates follow a lognormal distribution (heavy tail).
    bot_share : float
        Share of users that are bots; at least two bots are always planted.
    candidate_rooms : int
        Rooms kept per user for sampling discovery visits: the user's top rooms by
        affinity and popularity. The whole room set is used when it is smaller.
    latent_dim : int
        Dimension of the latent user and room factors behind the affinity.
    lines_per_part : int
        Maximum number of lines in one events file; a day with more lines is split into
        several ``part-NNNNN.json.gz`` files.
    """

    n_users: int
    n_rooms_initial: int
    new_rooms_per_day: int
    n_days: int
    n_communities: int
    mean_sessions_per_user_day: float
    bot_share: float = 0.005
    candidate_rooms: int = 256
    latent_dim: int = 8
    lines_per_part: int = 200_000


SIZES: dict[str, GeneratorSize] = {
    "tiny": GeneratorSize(
        n_users=300,
        n_rooms_initial=150,
        new_rooms_per_day=3,
        n_days=21,
        n_communities=8,
        mean_sessions_per_user_day=0.45,
    ),
    "default": GeneratorSize(
        n_users=8_000,
        n_rooms_initial=1_500,
        new_rooms_per_day=15,
        n_days=35,
        n_communities=24,
        mean_sessions_per_user_day=0.40,
    ),
    "large": GeneratorSize(
        n_users=100_000,
        n_rooms_initial=20_000,
        new_rooms_per_day=100,
        n_days=60,
        n_communities=80,
        mean_sessions_per_user_day=0.30,
        candidate_rooms=200,
    ),
}


def get_size(size: str) -> GeneratorSize:
    """Return the parameters of a named size.

    Raises
    ------
    ValueError
        If ``size`` is not a key of :data:`SIZES`.
    """
    try:
        return SIZES[size]
    except KeyError:
        valid = ", ".join(SIZES)
        raise ValueError(f"unknown generator size {size!r}; valid sizes are: {valid}") from None
