"""The PromQL name extractor the deploy tests rely on."""

from __future__ import annotations

import pytest

from tests.deploy.promql import metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (template_id, le) (rate(a_bucket{x="y", z=~"and|or"}[5m]))', {"a_bucket"}),
        ("x:rec:ratio_rate5m < scalar(rev:threshold) and on (t) b * 300 >= 1e3", {
            "x:rec:ratio_rate5m", "rev:threshold", "b"}),
        ("histogram_quantile(0.9, sum without (instance) (rate(h_bucket[1m] offset 5m)))",
         {"h_bucket"}),
        ('absent(up{job="rev-analytics"})', {"up"}),
        ("vector(0.80)", set()),
    ],
)
def test_metric_names_are_extracted(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
