"""How a group norm's group count follows the model's width (no TensorFlow: sweep files are checked against it).

GN's behaviour is set by its channels per group C/G as much as by its group count G (Wu & He 2018,
Sec. 3.1 and Table 3: a fixed G or a fixed C/G both work over a wide range, but with 1 channel per
group, InstanceNorm, GN is clearly worst). A model at a fraction of the full width that keeps G = 32
keeps the count and loses the channels per group: the embedded RetinaNet's median is 2 where the
full R50-FPN RetinaNet's is 8.

fixed: the configured count at every width (the default; the embedded study's setting).
width: the count x the component's width / its full-size width, so every layer keeps the channels
       per group of its full-size counterpart (G = 8 at the small variant's quarter width).
"""

GROUP_POLICIES = {
    "fixed": lambda groups, width: groups,
    "width": lambda groups, width: max(1, round(groups * width)),
}
DEFAULT_POLICY = "fixed"


def group_count(policy, groups, width):
    """The group count `policy` gives a component configured with `groups` at `width` x its full-size width."""
    if policy not in GROUP_POLICIES:
        raise ValueError(f"unknown gn_groups_policy {policy!r}; valid: {', '.join(GROUP_POLICIES)}")
    return GROUP_POLICIES[policy](groups, width)
