"""Example 3: a property test. Releases v3, v4 and v5 reach a board with MHC's defaults (``auto``: periodic
check every 60 s, automatic update and reset) while the image server and the network misbehave in any order
hypothesis draws. Two properties are checked after every step, on top of the machine's own safety
properties (the board runs an application when power returns, only accepted images run, no recorded image
is lost, the factory backup stays, the image database parses):

* the board never runs an older release than one it already ran;
* once the network and the server work again, the newest release runs within 200 board seconds.

The machine drives the virtual board only (it cuts power, copies flash and builds images): on a real board
the test is skipped, saying so. A failure shows the shrunk steps as a numbered list and a replay token;
``ReleaseTrain.replay(token)`` runs them again without hypothesis.
"""

import pytest
from hypothesis import settings
from hypothesis.stateful import initialize, invariant, rule

from harness.fuzzing import BoardStateMachine
from harness.fuzzing import strategies as ota

pytestmark = pytest.mark.otaloop_requires("virtual")

#: The releases, in the order they are published.
RELEASES = (3, 4, 5)


class ReleaseTrain(BoardStateMachine):
    @initialize()
    def setup_rule(self):  # always MHC's defaults
        self.setup("auto")
        self.published = [2]  # setup() already offers v2
        self.newest_run = 1

    # This test is about releases and a bad network: of the built-in rules it keeps those that break or
    # heal the server (server_fault_rule), take the network down or up (network_rule) and let time pass
    # (wait_rule). The others (power cuts, typing, damaged images) are left out by plain methods of the
    # same names.
    def power_rule(self):
        pass

    def cut_power_rule(self):
        pass

    def control_rule(self):
        pass

    def type_rule(self):
        pass

    def start_update_rule(self):
        pass

    def serve_rule(self):
        pass

    def serve_release_rule(self):
        pass

    def during_rule(self):
        pass

    @rule()
    def publish_next_release(self):
        later = [version for version in RELEASES if version > self.published[-1]]
        if later:
            image = ota.ImageSpec(later[0], size=self.image_size, config=self.config)
            self.serve(image)  # the image and a valid manifest offering it
            self.published.append(later[0])

    @rule()
    def everything_works_again(self):
        self.heal_server()
        self.set_network(True)
        self.wait(200.0)
        assert self.running_version() == self.published[-1], self.board.text[-600:]

    @invariant()
    def never_an_older_release(self):
        running = self.running_version()
        if running is not None:
            assert running >= self.newest_run, f"v{running} runs after v{self.newest_run} ran"
            self.newest_run = running


# derandomize: no fresh random seed per run, so a failure here fails again; drop it to explore.
ReleaseTrain.TestCase.settings = settings(
    max_examples=30, stateful_step_count=12, deadline=None, derandomize=True, database=None
)
TestReleaseTrain = ReleaseTrain.TestCase
