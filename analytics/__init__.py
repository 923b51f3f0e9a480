"""The batch side: loading the store, statistics, figures, reports and exports.

Statistics are pure functions over DataFrames or arrays returning small typed
results; reading SQLite, plotting and writing files live in their own modules.
"""
