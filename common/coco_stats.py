"""The 12 COCO detection statistics, in pycocotools' COCOeval.stats order."""

# our name -> Model Garden's COCOEvaluator name
MODEL_GARDEN_NAMES = {"AP": "AP", "AP50": "AP50", "AP75": "AP75", "APs": "APs", "APm": "APm", "APl": "APl",
                      "AR1": "ARmax1", "AR10": "ARmax10", "AR100": "ARmax100", "ARs": "ARs", "ARm": "ARm",
                      "ARl": "ARl"}
STATS = tuple(MODEL_GARDEN_NAMES)
