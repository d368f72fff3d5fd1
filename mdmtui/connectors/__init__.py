"""MDM connectors: one module per MDM behind the protocol in ``base`` (``connector_for(config)``).

``http`` is the shared HTTP layer; ``intune``, ``mobileiron`` and ``sdm`` register themselves under
their system names when ``base.connector_for`` first imports them.
"""
