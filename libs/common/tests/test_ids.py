import time
import uuid

from mch_common.ids import uuid7


def test_a_uuid7_is_a_uuid_of_version_7_ordered_by_time() -> None:
    made = [uuid7() for _ in range(1000)]
    for one in made:
        assert isinstance(one, uuid.UUID)
        assert one.version == 7
        assert one.variant == uuid.RFC_4122
        assert uuid.UUID(str(one)) == one == uuid.UUID(int=one.int)
        assert hash(one) == hash(uuid.UUID(int=one.int))
    assert len(set(made)) == 1000
    ms = [one.int >> 80 for one in made]
    assert ms == sorted(ms)
    assert abs(ms[-1] - time.time_ns() // 1_000_000) < 5_000
