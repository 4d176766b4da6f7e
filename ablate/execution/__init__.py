"""Running a recipe's runs: the runner, one run's folder, launchers, scheduling (calibration, memory)
and progress displays.
"""
