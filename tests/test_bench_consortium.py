"""The bench's consortium: copies of the demo institutions that load and do not collide."""

from __future__ import annotations

from alma_p2p import bench_consortium
from alma_p2p.profile import load_profiles


def test_a_consortium_of_six_is_two_copies_of_the_demo_that_do_not_collide(tmp_path):
    world, profiles = bench_consortium.consortium(6, tmp_path)
    loaded = load_profiles(profiles)
    assert len(loaded) == 6
    assert "demo-college-g1" in loaded
    codes = {p.institution.code for p in loaded.values()}
    assert codes == {i.code for i in world.institutions}
    keys = [i.api_keys[0].key for i in world.institutions]
    assert len(set(keys)) == 6
    assert all(i.delays.send == bench_consortium.SEND for i in world.institutions)
    college = next(i for i in world.institutions if i.code == "01DEMO_COLLEGE_G1")
    assert {p.institution_code for p in college.partners} <= codes | {None}
