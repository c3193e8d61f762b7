def pytest_collection_modifyitems(config, items):
    # Tests that stop the shared cluster, or need port 8080 free, must run after every test
    # that uses it.
    items.sort(key=lambda item: item.get_closest_marker("after_cluster") is not None)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "after_cluster: runs after every test that uses the shared local cluster"
    )
