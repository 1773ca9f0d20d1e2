#include "sink/open_sink.h"

#include "sink/parquet/dataset_store.h"
#include "sink/parquet/parquet_dataset.h"

namespace clickstream::sink {

arrow::Result<std::unique_ptr<Sink>> OpenSink(const SinkOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto store, OpenDatasetStore(options.output));
  return std::make_unique<ParquetDatasetSink>(DatasetOptions{options.date_column, options.topic}, std::move(store));
}

}  // namespace clickstream::sink
