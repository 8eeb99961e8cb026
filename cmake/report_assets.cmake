# Installs the report's npm packages (web/package-lock.json) and embeds the page's files
# and the chart library into protowatch_core as string data.

set(PROTOWATCH_WEB_DIR ${PROJECT_SOURCE_DIR}/web)
set(PROTOWATCH_CHART_LIBRARY ${PROTOWATCH_WEB_DIR}/node_modules/echarts/dist/echarts.common.min.js)
# Touched after each npm ci. npm gives the files it installs the time of the install, so
# the chart library is an output too, and a build that finds it missing runs npm ci again.
set(PROTOWATCH_NPM_STAMP ${PROJECT_BINARY_DIR}/npm-ci.stamp)

find_program(NPM_EXECUTABLE npm)
if(NPM_EXECUTABLE)
    add_custom_command(
        OUTPUT ${PROTOWATCH_NPM_STAMP} ${PROTOWATCH_CHART_LIBRARY}
        COMMAND ${NPM_EXECUTABLE} ci --no-audit --no-fund --loglevel=error
        COMMAND ${CMAKE_COMMAND} -E touch ${PROTOWATCH_NPM_STAMP}
        WORKING_DIRECTORY ${PROTOWATCH_WEB_DIR}
        DEPENDS ${PROTOWATCH_WEB_DIR}/package-lock.json ${PROTOWATCH_WEB_DIR}/package.json
        COMMENT "Installing the report's npm packages (npm ci in web/)"
        VERBATIM)
elseif(NOT EXISTS ${PROTOWATCH_CHART_LIBRARY})
    message(FATAL_ERROR
        "npm was not found and web/node_modules is missing: the HTML report embeds Apache "
        "ECharts from npm. Run tools/setup, which installs nodejs and npm and runs npm ci in "
        "web/, then configure again.")
endif()

set(PROTOWATCH_REPORT_ASSETS_CPP ${PROJECT_BINARY_DIR}/generated/report/assets.cpp)
set(assets
    kPageTemplate=${PROTOWATCH_WEB_DIR}/src/report.html
    kPageStyle=${PROTOWATCH_WEB_DIR}/src/report.css
    kPageScript=${PROTOWATCH_WEB_DIR}/src/report.js
    kChartLibrary=${PROTOWATCH_CHART_LIBRARY})
set(asset_files)
foreach(asset IN LISTS assets)
    string(REGEX REPLACE "^[^=]*=" "" file "${asset}")
    list(APPEND asset_files ${file})
endforeach()
# A list argument would be split by the shell of the build tool, so pass it with "|".
string(REPLACE ";" "|" assets_argument "${assets}")
add_custom_command(
    OUTPUT ${PROTOWATCH_REPORT_ASSETS_CPP}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${PROTOWATCH_REPORT_ASSETS_CPP}
        "-DASSETS=${assets_argument}" -P ${PROJECT_SOURCE_DIR}/cmake/embed_report_assets.cmake
    DEPENDS ${asset_files} ${PROJECT_SOURCE_DIR}/cmake/embed_report_assets.cmake
        $<$<BOOL:${NPM_EXECUTABLE}>:${PROTOWATCH_NPM_STAMP}>
    COMMENT "Embedding the report's page and chart library"
    VERBATIM)
target_sources(protowatch_core PRIVATE ${PROTOWATCH_REPORT_ASSETS_CPP})
