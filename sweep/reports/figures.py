"""Writing a matplotlib figure as a PNG result file (atomic; local or scheme:// paths). No TensorFlow."""
import io

from common.storage import write_atomic


def legend_if_any(ax, **options):
    """A legend only when something labelled was drawn (matplotlib warns on an empty one)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**options)


def save_png(fig, path, dpi=110):
    """Lays out `fig`, writes it to `path` as a PNG and closes it."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=dpi)
    plt.close(fig)
    write_atomic(path, image.getvalue())
