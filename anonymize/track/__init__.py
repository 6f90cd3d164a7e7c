"""Detections -> tracks over time, so coverage does not flicker off where a detector misses.

A face detected in most frames but missed in one is a leak in that one frame. The tracker
links detections of the same thing across frames and decides, per frame, which regions to
obscure. It is three parts, each in its own module:

- :mod:`~anonymize.track.track`: a track and its lifecycle (tentative, confirmed, deleted);
- :mod:`~anonymize.track.association`: which detection continues which track;
- :mod:`~anonymize.track.coverage`: what area each track covers in each frame (gaps filled,
  extensions before and after, margins, steadying);

with :mod:`~anonymize.track.tracker` running them frame by frame and
:mod:`~anonymize.track.config` holding every number they are tuned by.

Scene cuts end every track, and nothing is carried or extended across a cut. Given the
camera's motion between frames (:mod:`anonymize.motion`), tracks live in coordinates that
follow the camera from the start of the shot (:mod:`~anonymize.track.camera`). Before a frame
is fed, :meth:`Tracker.expected` says where the tracks no quick detection found should be, so
a detector can look there closely (``NearDetector``): what it finds is covered as detected,
where it is, instead of carried with margins.
"""

from anonymize.track.config import TrackerConfig
from anonymize.track.tracker import Tracker

__all__ = ["Tracker", "TrackerConfig"]
