"""Label Studio stage: a coding round's round trip (``cda ls``) and a local server
(``cda labelstudio``).

- ``server``: start, stop and find the workspace's own Label Studio;
- ``client``: one command's checked connection (URL, key, retries, study config);
- ``labeling``: the codebook as a labeling config, and annotation results back as codes;
- ``tasks``: what a task shows (dialogue context, audio) and the predictions it carries;
- ``projects``: each coder's project of a round and its exported tasks (the record of which
  project is whose is ``pipeline.codings.order.RoundProjects``, read by qdpx import too);
- ``pushing``, ``pulling``, ``adjudication``: the three commands.
"""

from pipeline.labelstudio.adjudication import adjudicate
from pipeline.labelstudio.pulling import PullResult, pull
from pipeline.labelstudio.pushing import PushResult, push

__all__ = ["PullResult", "PushResult", "adjudicate", "pull", "push"]
