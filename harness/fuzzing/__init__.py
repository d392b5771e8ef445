"""Hazard-finding property tests: the board state machine, its safety properties, searching and reports.

``BoardStateMachine`` (:mod:`harness.fuzzing.machine`) is the base a user subclasses and the machine
``otaloop fuzz`` runs; :mod:`harness.fuzzing.hazards` names the properties and hazards,
:mod:`harness.fuzzing.safety` checks them, :mod:`harness.fuzzing.probe` shows what the board does when power
returns; :mod:`harness.fuzzing.steps` records steps and replay tokens; :mod:`harness.fuzzing.search` runs a
budgeted, seeded search and collects findings; :mod:`harness.fuzzing.report` prints them. The hypothesis
strategies the rules draw from (images, manifests, server faults, console lines, cut plans) are in
:mod:`harness.fuzzing.strategies`.
"""

from harness.fuzzing.hazards import HAZARDS, PROPERTIES, Hazard, HazardFound
from harness.fuzzing.machine import BoardStateMachine, Replay

__all__ = ["HAZARDS", "PROPERTIES", "BoardStateMachine", "Hazard", "HazardFound", "Replay"]
