"""ablate's built-in recipes (installed as the package ``ablate_recipes``): one TOML file each."""
